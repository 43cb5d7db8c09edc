drop schema raw cascade;
