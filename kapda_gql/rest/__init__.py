"""Plain REST routes beside GraphQL: health probes and the Razorpay webhook."""
