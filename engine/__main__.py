from engine.cli.entry import main

main()
