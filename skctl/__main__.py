from skctl.cli import main

raise SystemExit(main())
