"""Stage 8, publish: GitHub Actions workflow commands, the REST API, and baseline artifacts.

``actions.py`` talks to the runner through files and stdout (outputs, job summary,
``::error``); ``api.py`` talks to the REST API with PyGithub (PR comment, check run);
``artifacts.py`` finds, downloads and safely extracts a baseline artifact; ``publish.py``
ties them together behind ``doorbell-ci publish RESULTS_DIR``. Nothing here can change a
run's verdict: a publishing failure is a notice, never a red build.
"""
