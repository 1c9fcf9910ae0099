from tessera.admission.main import main

main()
