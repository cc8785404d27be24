"""200 Hz whole-body controller: Pinocchio robot model, OSQP trajectory optimisation of action
chunks, QP tracking under joint limits, collision and manipulability constraints."""
