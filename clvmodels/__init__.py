"""clvmodels: customer lifetime value from transaction logs."""
