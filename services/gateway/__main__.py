from tessera.gateway.main import main

main()
