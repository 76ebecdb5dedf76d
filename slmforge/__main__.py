from slmforge.orchestrate.cli import main

main()
