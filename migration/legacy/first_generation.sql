-- The legacy app's SQLite schema in its first generation (May 2025), column
-- for column as its own code created it (db_utils.py at b770dd3, then
-- improved_db_utils.py at 25783d6, which added trainers.salt). Layout is ours.
-- A file of the first days has no salt column: its passwords are unsalted.
-- See generations.md beside the legacy README.

CREATE TABLE trainers (
    id INTEGER PRIMARY KEY,
    username TEXT UNIQUE NOT NULL,
    password TEXT NOT NULL,
    salt TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT UNIQUE NOT NULL
);

CREATE TABLE clients (
    id INTEGER PRIMARY KEY,
    trainer_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    age INTEGER NOT NULL,
    gender TEXT NOT NULL,
    height REAL NOT NULL,
    weight REAL NOT NULL,
    email TEXT,
    phone TEXT,
    registration_date TEXT NOT NULL,
    FOREIGN KEY (trainer_id) REFERENCES trainers (id)
);

CREATE TABLE assessments (
    id INTEGER PRIMARY KEY,
    client_id INTEGER NOT NULL,
    trainer_id INTEGER NOT NULL,
    date TEXT NOT NULL,
    overhead_squat_score INTEGER,
    overhead_squat_notes TEXT,
    push_up_score INTEGER,
    push_up_reps INTEGER,
    push_up_notes TEXT,
    single_leg_balance_right_open INTEGER,
    single_leg_balance_left_open INTEGER,
    single_leg_balance_right_closed INTEGER,
    single_leg_balance_left_closed INTEGER,
    single_leg_balance_notes TEXT,
    toe_touch_score INTEGER,
    toe_touch_distance REAL,
    toe_touch_notes TEXT,
    shoulder_mobility_right REAL,
    shoulder_mobility_left REAL,
    shoulder_mobility_score INTEGER,
    shoulder_mobility_notes TEXT,
    farmers_carry_weight REAL,
    farmers_carry_distance REAL,
    farmers_carry_time REAL,
    farmers_carry_score INTEGER,
    farmers_carry_notes TEXT,
    step_test_hr1 INTEGER,
    step_test_hr2 INTEGER,
    step_test_hr3 INTEGER,
    step_test_pfi REAL,
    step_test_score INTEGER,
    step_test_notes TEXT,
    overall_score REAL,
    strength_score REAL,
    mobility_score REAL,
    balance_score REAL,
    cardio_score REAL,
    FOREIGN KEY (client_id) REFERENCES clients (id),
    FOREIGN KEY (trainer_id) REFERENCES trainers (id)
);
