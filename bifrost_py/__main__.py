from bifrost_py.cli import main

main()
