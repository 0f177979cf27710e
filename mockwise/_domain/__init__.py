"""The domain: tenants, clocks, clients, users, profiles, tokens and their lifecycle. No HTTP."""
