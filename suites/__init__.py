"""What to sweep: one module per suite, each registering itself in `suites.registry`.
Importing this package registers them all."""
from suites import claims, decode, distributed, encoders, quality, regression, scaling  # noqa: F401  (registration)
