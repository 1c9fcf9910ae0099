from tessera.inference.main import main

main()
