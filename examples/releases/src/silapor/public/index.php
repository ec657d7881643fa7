<?php
// SILAPOR, a Laravel-style example: one front controller in public/, every other URL reaches it
// through public/.htaccess (mod_rewrite), the database named by Laravel's variables (DB_DATABASE,
// DB_USERNAME, ...: application.env), and storage/ the only folder the application may write.
require __DIR__ . '/../bootstrap/app.php';

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
header('Content-Type: text/plain; charset=utf-8');

if ($path === '/') {
    echo "SILAPOR - Sistem Informasi Pelaporan\n";
    echo 'migrasi: ' . count(silapor_migrated(silapor_db())) . "\n";
} elseif (preg_match('#^/laporan/([0-9]+)$#', $path, $m)) {
    echo "laporan {$m[1]} (front controller)\n";
} elseif ($path === '/unggah') {
    $file = storage_path('app/unggahan-' . getmypid() . '.txt');
    echo @file_put_contents($file, gmdate('c') . "\n") !== false ? "storage: tertulis\n" : "storage: GAGAL\n";
    echo @file_put_contents(__DIR__ . '/ditulis-aplikasi.php', '<?php echo 1;') === false
        ? "kode: terkunci\n" : "kode: TERTULIS (tidak boleh)\n";
} else {
    http_response_code(404);
    echo "tidak ditemukan\n";
}
