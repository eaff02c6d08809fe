"""The product on one machine: `make run`'s launcher, the local mail catcher, free ports, a throwaway PostgreSQL."""
