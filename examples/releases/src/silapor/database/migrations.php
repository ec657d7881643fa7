<?php
// Migration name => SQL (portable between MariaDB and PostgreSQL).
return [
    '2026_11_01_000000_create_laporan_table' =>
        'CREATE TABLE laporan (id INTEGER PRIMARY KEY, judul VARCHAR(200) NOT NULL)',
];
