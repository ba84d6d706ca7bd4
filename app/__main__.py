from app.filemode import main

raise SystemExit(main())
