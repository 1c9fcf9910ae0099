from tessera.tiler.main import main

main()
