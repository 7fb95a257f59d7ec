"""import_legacy: every legacy row into its target model, keeping the ledger."""
