//! What a delivery is given and gives back: the envelope, and each recipient's replies.

use crate::Reply;

/// Who a message is from and for, and what MAIL FROM declares about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub(super) reverse_path: String,
    pub(super) recipients: Vec<String>,
    pub(super) size: Option<u64>,
    pub(super) eight_bit: bool,
    pub(super) utf8: bool,
}

impl Envelope {
    /// The sender (without angle brackets; empty for the null reverse path `<>`) and the
    /// recipients, in the order their RCPT TO go out. Until told otherwise
    /// ([`Envelope::describing`], [`Envelope::with_eight_bit`]), the message is taken to
    /// possibly hold 8-bit octets (so `BODY=8BITMIME` is declared when offered), its size is
    /// not declared, and SMTPUTF8 is asked for only if an address is not ASCII.
    pub fn new<I, T>(reverse_path: impl Into<String>, recipients: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Envelope {
            reverse_path: reverse_path.into(),
            recipients: recipients.into_iter().map(Into::into).collect(),
            size: None,
            eight_bit: true,
            utf8: false,
        }
    }

    /// Declares what `message` (LF or CRLF line ends, as it will be passed to
    /// [`Client::deliver`](super::Client::deliver)) is: its size on the wire for `SIZE=`,
    /// whether it holds 8-bit octets for `BODY=8BITMIME`, whether its header holds UTF-8 for
    /// `SMTPUTF8`.
    pub fn describing(self, message: &[u8]) -> Self {
        let header_end = memchr::memmem::find(message, b"\n\n")
            .or_else(|| memchr::memmem::find(message, b"\r\n\r\n"))
            .unwrap_or(message.len());
        let header = message.get(..header_end).unwrap_or_default();
        self.with_size(crate::encode::wire_size(message))
            .with_eight_bit(!message.is_ascii())
            .with_utf8_header(!header.is_ascii())
    }

    /// Declares the message's size in octets for `SIZE=` (RFC 1870), sent when the server
    /// offers SIZE. An estimate is allowed; the CRLF form's size is best.
    pub fn with_size(mut self, octets: u64) -> Self {
        self.size = Some(octets);
        self
    }

    /// Declares whether the message holds octets above 127 (`BODY=8BITMIME` when offered).
    pub fn with_eight_bit(mut self, eight_bit: bool) -> Self {
        self.eight_bit = eight_bit;
        self
    }

    /// Declares whether the message's header holds UTF-8 (RFC 6532), which asks for
    /// `SMTPUTF8` when the server offers it. An address that is not ASCII asks for it anyway.
    pub fn with_utf8_header(mut self, utf8: bool) -> Self {
        self.utf8 = utf8;
        self
    }

    /// The sender; empty for `<>`.
    pub fn reverse_path(&self) -> &str {
        &self.reverse_path
    }

    /// The recipients.
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    /// The recipients, nothing answered about them yet.
    pub(super) fn unanswered(&self) -> Vec<Recipient> {
        self.recipients
            .iter()
            .map(|address| Recipient::unanswered(address))
            .collect()
    }
}

/// What became of one recipient of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address as given in the envelope.
    pub address: String,
    /// The reply to its RCPT TO; `None` when the command was never sent (MAIL FROM refused
    /// without pipelining).
    pub rcpt: Option<Reply>,
    /// For an accepted recipient, the server's reply after the message: 2xx delivered, 4xx or
    /// 5xx not. `None` when the recipient was refused or the message never completed.
    pub reply: Option<Reply>,
}

impl Recipient {
    /// `address` before any reply about it.
    pub(super) fn unanswered(address: &str) -> Recipient {
        Recipient {
            address: address.to_string(),
            rcpt: None,
            reply: None,
        }
    }
}

/// The outcome of one [`Client::deliver`](super::Client::deliver): every reply of the
/// transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The reply to MAIL FROM; for a message over the server's SIZE limit, which is not
    /// offered, the `552 5.3.4` the server answers such a MAIL FROM with, made by the client.
    pub mail: Reply,
    /// The recipients in envelope order.
    pub recipients: Vec<Recipient>,
    /// A refusal of the message as a whole: the reply to DATA, or to a BDAT chunk before the
    /// last, that was not a go-ahead. Then no recipient has a final reply.
    pub data_refused: Option<Reply>,
}

impl Delivery {
    /// A message of `octets` not offered, being over the server's SIZE `limit`.
    pub(super) fn too_large(envelope: &Envelope, octets: u64, limit: u64) -> Delivery {
        Delivery {
            mail: Reply {
                code: 552,
                enhanced: Some((5, 3, 4)),
                text: format!(
                    "the message ({octets} octets) is larger than the server's SIZE limit \
                     ({limit}); it was not sent"
                ),
            },
            recipients: envelope.unanswered(),
            data_refused: None,
        }
    }

    /// For each recipient, the reply that decided its fate: after the message, its own reply;
    /// otherwise the refusal of the message, of its RCPT TO, or of MAIL FROM.
    pub fn verdicts(&self) -> impl Iterator<Item = (&str, &Reply)> {
        self.recipients.iter().map(move |recipient| {
            let refused_rcpt = recipient.rcpt.as_ref().filter(|rcpt| !rcpt.is_positive());
            let reply = match (&recipient.reply, self.mail.is_positive()) {
                (Some(reply), _) => reply,
                (None, false) => &self.mail,
                (None, true) => refused_rcpt
                    .or(self.data_refused.as_ref())
                    .unwrap_or(&self.mail),
            };
            (recipient.address.as_str(), reply)
        })
    }

    /// Whether the message was delivered to every recipient.
    pub fn delivered_to_all(&self) -> bool {
        self.verdicts().all(|(_, reply)| reply.is_positive())
    }

    pub(super) fn accepted(&self) -> usize {
        if !self.mail.is_positive() {
            return 0;
        }
        self.recipients
            .iter()
            .filter(|r| r.rcpt.as_ref().is_some_and(Reply::is_positive))
            .count()
    }
}
