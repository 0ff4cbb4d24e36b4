<?php
// mlpl-test/adminer: Debian's Adminer with the official image's ADMINER_DEFAULT_SERVER behaviour
// (the login form's server field pre-filled; `db` when unset, as the official image does).
define('ADMINER_DIR', '/usr/share/adminer');

function adminer_object() {
    include_once ADMINER_DIR . '/plugins/plugin.php';
    include_once ADMINER_DIR . '/plugins/version-noverify.php';

    class AdminerDefaultServer {
        function loginFormField($name, $heading, $value) {
            if ($name !== 'server') {
                return null;
            }
            $server = getenv('ADMINER_DEFAULT_SERVER');
            if ($server === false || $server === '') {
                $server = 'db';
            }
            return $heading . str_replace('name="auth[server]" value=""', 'name="auth[server]" value="' . h($server) . '"', $value);
        }
    }

    return new AdminerPlugin(array(new AdminerVersionNoverify(), new AdminerDefaultServer()));
}

include ADMINER_DIR . '/adminer.php';
