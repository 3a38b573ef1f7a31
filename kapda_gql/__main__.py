from kapda_gql.cli import main

raise SystemExit(main())
