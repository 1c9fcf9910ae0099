from tessera.branch_sequencer.main import main

main()
