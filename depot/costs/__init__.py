"""What the energy cost: tariffs and costing (PURE), the ledger, reports and their exports.

Lives here: tariff versions and prices (pure), session costing (pure), the ledger that books meter samples
into slots and sessions, the energy report and its CSV/XLSX/PDF exports.
May import: the pure core, depot.store and depot.people; never ocpp, control, web or layouts.
"""
