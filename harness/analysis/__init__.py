"""Reading stored results: the regression gate (`compare`, `compare_report`), the claims
ledger (`claims`, `claims_catalog`) and the quality report. No torch."""
