<?php
// The settings come from the environment the provisioner gives (php-fpm pool, or app.env for
// the commands and cron lines), under the names Laravel reads.
function storage_path(string $path = ''): string
{
    return dirname(__DIR__) . '/storage' . ($path === '' ? '' : '/' . $path);
}

function silapor_db(): PDO
{
    $driver = getenv('DB_CONNECTION') === 'pgsql' ? 'pgsql' : 'mysql';
    $dsn = sprintf('%s:host=%s;port=%s;dbname=%s', $driver, getenv('DB_HOST'), getenv('DB_PORT'),
                   getenv('DB_DATABASE'));
    return new PDO($dsn, getenv('DB_USERNAME'), getenv('DB_PASSWORD'), [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
}

function silapor_migrated(PDO $db): array
{
    try {
        return $db->query('SELECT migration FROM migrations ORDER BY migration')->fetchAll(PDO::FETCH_COLUMN);
    } catch (PDOException $e) {
        return [];
    }
}
