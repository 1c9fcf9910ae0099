from tessera.projector.main import main

main()
