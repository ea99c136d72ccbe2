from globaldns.cli import main

raise SystemExit(main())
