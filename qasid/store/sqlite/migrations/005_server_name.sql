-- The server name the data was created for. User and room IDs embed it, so a server started on
-- this data under another name would mint IDs that belong to nobody: startup compares the two.
-- A database made before this table takes the name from its first account; a new one records the
-- configured name when it is first opened.
CREATE TABLE server_identity (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    server_name     TEXT NOT NULL
);
INSERT INTO server_identity (id, server_name)
    SELECT 1, substr(user_id, instr(user_id, ':') + 1) FROM users ORDER BY rowid LIMIT 1;
