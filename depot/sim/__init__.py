"""The simulated depot: chargers that are real OCPP clients, vehicles, and the demo scenario.

Lives here: the simulated charge points (1.6J and 2.0.1), vehicle behaviour, the demo depot and its seed.
May import: the pure core, depot.store (to seed the demo); never the server side (ocpp, control, web).
"""
