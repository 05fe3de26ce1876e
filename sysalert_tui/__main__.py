from sysalert_tui.cli import main

raise SystemExit(main())
