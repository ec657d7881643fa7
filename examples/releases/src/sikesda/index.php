<?php
// Example release for the PHP case: proves the application reads and writes its database
// through the settings the provisioner gave it (DB_* in the php-fpm pool's environment).
header('Content-Type: text/plain; charset=utf-8');
$engine = getenv('DB_ENGINE');
$driver = $engine === 'postgresql' ? 'pgsql' : 'mysql';
$dsn = sprintf('%s:host=%s;port=%s;dbname=%s', $driver, getenv('DB_HOST'), getenv('DB_PORT'), getenv('DB_NAME'));
echo "SIKESDA - Sistem Informasi Kesehatan Daerah\n";
try {
    $db = new PDO($dsn, getenv('DB_USER'), getenv('DB_PASSWORD'), [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    $id = $driver === 'pgsql' ? 'SERIAL PRIMARY KEY' : 'INT AUTO_INCREMENT PRIMARY KEY';
    $db->exec("CREATE TABLE IF NOT EXISTS kunjungan (id $id, waktu VARCHAR(40) NOT NULL)");
    $insert = $db->prepare('INSERT INTO kunjungan (waktu) VALUES (?)');
    $insert->execute([gmdate('c')]);
    $count = $db->query('SELECT COUNT(*) FROM kunjungan')->fetchColumn();
    echo "database: ok ($engine)\n";
    echo "kunjungan: $count\n";
} catch (PDOException $e) {
    http_response_code(500);
    echo "database: error\n";
}
