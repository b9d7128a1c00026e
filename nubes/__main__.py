from nubes.cli.entry import main

main()
