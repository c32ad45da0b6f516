from exactlink.cli.main import main

main()
