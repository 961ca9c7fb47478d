<?php
// Check one uploaded image against Image Shield's hosted lookup: one HTTP call per upload.
// The image is hashed on this server by forum_lookup.py (beside this file; it needs
// `pip install pdqhash pillow requests`); only its hashes are sent.

function imageshield_check(string $path): ?array
{
    $hasher = __DIR__ . '/forum_lookup.py';
    $body = shell_exec('python3 ' . escapeshellarg($hasher) . ' --hashes-only ' . escapeshellarg($path));
    if (!is_string($body) || $body === '') {
        return null; // could not hash it: check again later
    }
    $curl = curl_init(getenv('IMAGESHIELD_LOOKUP_URL') ?: 'https://shield.example.org/api/v1/lookup');
    curl_setopt_array($curl, [
        CURLOPT_POST => true,
        CURLOPT_POSTFIELDS => $body,
        CURLOPT_HTTPHEADER => [
            'Content-Type: application/json',
            'Authorization: Bearer ' . getenv('IMAGESHIELD_LOOKUP_KEY'),
        ],
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_TIMEOUT => 10,
    ]);
    $answer = curl_exec($curl);
    $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    curl_close($curl);
    if (!is_string($answer) || $status !== 200) {
        return null; // 429 (rate limit) or 503 (try later, Retry-After says when)
    }
    $found = [];
    foreach (json_decode($answer, true)['results'] as $result) {
        foreach ($result['matches'] as $match) {
            $found[$match['id']] = $match; // one fingerprint may match several of the 8 variants
        }
    }
    return array_values($found);
}

if (PHP_SAPI === 'cli' && isset($argv[1]) && realpath($argv[1]) !== realpath(__FILE__)) {
    $matches = imageshield_check($argv[1]);
    if ($matches === null) {
        fwrite(STDERR, "not checked, try again later\n");
        exit(2);
    }
    foreach ($matches as $match) {
        printf("match %s %s distance %d origin %s\n", $match['id'], $match['signal_type'], $match['distance'],
               $match['origin']);
    }
    exit($matches ? 1 : 0);
}
