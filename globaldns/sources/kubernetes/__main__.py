"""`python -m globaldns.sources.kubernetes`: a watch process (see worker), as the serving
process spawns one to replace another."""

from globaldns.sources.kubernetes.worker import main

raise SystemExit(main())
