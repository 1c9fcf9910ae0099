from tessera.merger.main import main

main()
