from fullfunnel.cli import main

main()
