"""The web side: Flask/Dash wiring, sign-in and roles, the JSON API, and the pages' read models.

Lives here: the per-process services a page may reach (context), authentication and role guards, the API,
and the view models the pages draw (floor plan, charger detail, power data).
May import: services (ocpp, control, costs, people, sim), the store and the core; layouts import from here.
"""
