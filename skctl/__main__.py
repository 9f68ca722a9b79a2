from skctl.cli.entry import main

raise SystemExit(main())
