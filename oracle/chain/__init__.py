"""On-chain side of the service: deployment and the commit/submit transactions (Ape)."""
