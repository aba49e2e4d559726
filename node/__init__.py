"""Every side effect of casebridge: config, storage, network, sessions, alerts, disclosures, audit, CLI."""
