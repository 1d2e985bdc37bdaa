//! WhatsApp ids as the gateways (Evolution's Baileys, WAHA's engines) write them:
//! `5511987654321@s.whatsapp.net` or `5511987654321@c.us` for a person, `…@g.us` for a
//! group, `…@lid` for a hidden number.

/// The address a reply goes to: `+<digits>` for a person's number, the id itself otherwise
/// (a group, a hidden number), which the gateways take as a recipient too.
pub fn contact_address(jid: &str) -> String {
    let jid = jid.trim();
    match jid.split_once('@') {
        Some((user, "s.whatsapp.net" | "c.us"))
            if !user.is_empty() && user.chars().all(|c| c.is_ascii_digit()) =>
        {
            format!("+{user}")
        }
        _ => jid.to_owned(),
    }
}

/// The gateway's chat id of a contact address, the reverse of [`contact_address`]:
/// `+5511…` becomes `5511…@{person_domain}` (`s.whatsapp.net` for Baileys, `c.us` for
/// WAHA); an id that already names its domain (a group, a hidden number) stays.
pub fn chat_id(address: &str, person_domain: &str) -> String {
    let address = address.trim();
    if address.contains('@') {
        address.to_owned()
    } else {
        format!("{}@{person_domain}", address.trim_start_matches('+'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_chat_ids_and_back() {
        assert_eq!(
            chat_id("+5511987654321", "s.whatsapp.net"),
            "5511987654321@s.whatsapp.net"
        );
        assert_eq!(chat_id("+5511987654321", "c.us"), "5511987654321@c.us");
        assert_eq!(chat_id("120363025@g.us", "c.us"), "120363025@g.us");
        for domain in ["s.whatsapp.net", "c.us"] {
            assert_eq!(
                contact_address(&chat_id("+5511987654321", domain)),
                "+5511987654321"
            );
        }
    }

    #[test]
    fn numbers_become_e164_and_other_ids_stay() {
        assert_eq!(
            contact_address("5511987654321@s.whatsapp.net"),
            "+5511987654321"
        );
        assert_eq!(contact_address("5511987654321@c.us"), "+5511987654321");
        assert_eq!(contact_address("120363025@g.us"), "120363025@g.us");
        assert_eq!(
            contact_address("1234:5@s.whatsapp.net"),
            "1234:5@s.whatsapp.net"
        );
    }
}
