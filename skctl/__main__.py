from skctl.entry import main

raise SystemExit(main())
