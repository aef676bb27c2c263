"""The simulated depot: chargers that are real OCPP clients, vehicles, and the demo scenario.

Lives here: the depot and the vehicles' schedule (`simulator`, also `depot simulate`), the demo layout and its
seed (`demo`), the specs (`specs`), one simulated charger (`charger`, with its mixins `events`, `commands`,
`connection` and its state in `state`), the two protocol versions (`ocpp16`, `ocpp201` and the calls they
answer in `ocpp16_handlers`, `ocpp201_handlers`), and the pure vehicle physics and profile evaluation (`vehicle`).
May import: the pure core, depot.store (to seed the demo); never the server side (ocpp, control, web).
"""
