from slmforge.cli import main

main()
