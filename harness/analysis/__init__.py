"""Reading stored results: the regression gate (`compare`, `compare_report`), the claims
ledger (`claims`, `claims_catalog` and its families `claims_speed`, `claims_memory`,
`claims_quality` over `claims_rows`, `claims_report`) and the quality report. No torch."""
