from doorbell_ci.cli import main

raise SystemExit(main())
