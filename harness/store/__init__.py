"""The results store: a point's identity (`points`), one JSON record per point (`results`),
atomic writes (`atomic`) and the record schema with its flat columns (`schema`). No torch."""
