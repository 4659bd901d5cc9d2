from boom_flow.cli.main import main

main()
