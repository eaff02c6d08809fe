"""Routes grouped by feature: thin over the services, authorised by the typed dependencies of admin.deps."""
